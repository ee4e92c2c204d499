"""``lowlevel verify`` keeps its table free of TensorFlow's retracing warning, and only that one."""

import logging

import tensorflow as tf

from lowlevel.apps import verify

RETRACING = ("5 out of the last 5 calls to <function compute> triggered tf.function "
             "retracing. Tracing is expensive")


class _Collect(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def _messages_logged(messages):
    """What reaches a handler on TensorFlow's logger while verify's filter is on."""
    logger, collect = tf.get_logger(), _Collect()
    logger.addHandler(collect)
    try:
        with verify._retracing_warnings_dropped():
            for message in messages:
                logger.warning(message)
    finally:
        logger.removeHandler(collect)
    return collect.messages


def test_verify_drops_the_retracing_warning_of_its_one_trace_per_case():
    assert _messages_logged([RETRACING, "after"]) == ["after"]


def test_verify_keeps_every_other_tensorflow_warning():
    assert _messages_logged(["something else went wrong"]) == ["something else went wrong"]


def test_the_filter_is_removed_after_verify():
    with verify._retracing_warnings_dropped():
        pass
    assert not [f for f in tf.get_logger().filters if isinstance(f, verify._NotRetracing)]
