"""What tests read from a traced function: the nodes of its graph and of the functions
its graph calls (the chunks, the while loops' bodies).

Tests import it as ``from traced_graphs import count, nodes`` (``tests/`` is on pytest's
``pythonpath``, pyproject.toml).
"""


def nodes(concrete_function, in_functions=None) -> list:
    """Every ``NodeDef`` of ``concrete_function``'s graph and of its functions' bodies;
    with ``in_functions`` (a predicate on a function's name) only the nodes of the
    functions it accepts."""
    graph = concrete_function.graph.as_graph_def()
    inner = [node for function in graph.library.function
             if in_functions is None or in_functions(function.signature.name)
             for node in function.node_def]
    return inner if in_functions is not None else list(graph.node) + inner


def count(nodes, op, **attrs) -> int:
    """How many of ``nodes`` run ``op`` with the given boolean attributes
    (``count(nodes, "MatMul", transpose_b=True)``)."""
    return sum(1 for node in nodes if node.op == op
               and all(node.attr[name].b == value for name, value in attrs.items()))
