import sys

from dnoutcomes.cli import main

sys.exit(main())
