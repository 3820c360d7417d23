"""`build.py test`: the test runner, apart from what builds and serves images. plan.py builds the images
a run needs and picks the test modules of their layers; lanes.py runs those modules in pytest processes
side by side. Nothing else in labstack imports this package."""
