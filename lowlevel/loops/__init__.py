"""Time loops: every way of running a cell over ``[batch, time, features]``."""
