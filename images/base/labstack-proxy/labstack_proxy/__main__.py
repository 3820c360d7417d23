"""`python3 -m labstack_proxy ARGS`: jupyter-standaloneproxy, with websockets authenticated."""
import sys

from .standalone import standalone_main

standalone_main(sys.argv[1:])
