# /etc/profile.d/labstack-path.sh: Debian's /etc/profile sets PATH anew in login shells, and
# /etc/bash.bashrc sources this file too (interactive shells: JupyterLab's and VS Code's terminals are
# not login shells). The same PATH as labstack-entrypoint gives everything else, the user's Python
# environment first (labstack-env), then the image's Jupyter environment, and the user's own scripts
# (pip install --user) last; each added only when missing, so reading it twice changes nothing. Once,
# in the first terminal opened, what labstack-env had to say at the last start.
userenv="${HOME}/.local/share/labstack/envs/python$(readlink -f /usr/bin/python3 | sed 's/.*python//')/bin"
case ":${PATH}:" in
    *:/opt/jupyter/bin:*) ;;
    *) PATH="/opt/jupyter/bin:${PATH}"; export PATH ;;
esac
case ":${PATH}:" in
    *":${userenv}:"*) ;;
    *) PATH="${userenv}:${PATH}"; export PATH ;;
esac
case ":${PATH}:" in
    *":${HOME}/.local/bin:"*) ;;
    *) PATH="${PATH}:${HOME}/.local/bin"; export PATH ;;
esac
unset userenv
notice="${HOME}/.local/share/labstack/notice"
if [ -s "$notice" ] && [ -t 1 ]; then
    cat "$notice" && rm -f "$notice"
fi
unset notice
