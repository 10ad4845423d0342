import sys

from keras_supcrd.app.cli import main

sys.exit(main())
