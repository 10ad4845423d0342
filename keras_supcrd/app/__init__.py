"""The `keras-supcrd compare` application, apart from the library.

Command line, Fashion-MNIST loader, default models, the cached teacher,
the study protocol, statistics, geometry and the report. It uses the
library (`keras_supcrd.Distiller`, `keras_supcrd.losses`, ...); the library
never imports it.
"""
