"""The IMDB sentiment experiment: ``lowlevel train | evaluate | predict``."""
