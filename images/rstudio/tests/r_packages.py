"""R source packages built in the test's container (CRAN is out of reach, and its changes can't move a
result): the rstudio layer's tests install them as a user would."""
from jupyter_container import JupyterContainer


def r_source_package(jupyter: JupyterContainer, name: str, text: str) -> str:
    """A package `name` whose hello() returns text, built with `R CMD build` in /tmp/pkg; its tarball."""
    jupyter.exec(["sh", "-c", f"mkdir -p /tmp/pkg/{name}/R && cd /tmp/pkg && "
                  f"printf 'Package: {name}\\nVersion: 0.1\\nTitle: Test\\nDescription: A test package.\\n"
                  "License: MIT\\nAuthor: labstack\\nMaintainer: labstack <labstack@example.org>\\n' "
                  f"> {name}/DESCRIPTION && echo 'hello <- function() \"{text}\"' > {name}/R/hello.R && "
                  f"R CMD build {name} >/dev/null"], timeout=180)
    return f"/tmp/pkg/{name}_0.1.tar.gz"
