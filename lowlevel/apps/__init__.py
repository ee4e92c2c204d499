"""The applications built on the library: the IMDB experiment, the gradient lab, the speed
bench, ``verify`` and the ``lowlevel`` command line. The library never imports them."""
