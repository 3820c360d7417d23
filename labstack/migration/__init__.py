"""`build.py migrate`: a running app container (code-server, R) made into a Jupyter-enabled image that
keeps its user's work. Everything it knows is in this package and in images/mig/:

- migrate.py: the steps, in order (read, commit, rewrite, probe, build);
- workstate.py: the container's processes and the mounts that hold the user's state;
- rootfs.py and scrub.py: the commit rewritten as one layer, secrets dropped, mounted state copied in;
- readers/: one module per kind of app, which finds it, names its user and fills in the build arguments
  of its stage in images/mig/Dockerfile.

Adding a kind of app: docs/migrating-another-app.md.
"""
