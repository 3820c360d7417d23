"""`python3 -m labstack_proxy ARGS`: jupyter-standaloneproxy, with websockets authenticated."""
import sys

from .standalone_proxy import standalone_main

standalone_main(sys.argv[1:])
