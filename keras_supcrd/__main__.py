import sys

from keras_supcrd.cli import main

sys.exit(main())
