# /etc/profile.d/labstack-path.sh: Debian's /etc/profile sets PATH anew in login shells (VS Code's
# terminal can start one); keep the image's Jupyter environment first, as the notebook kernel has it,
# and the user's own scripts (pip install --user) last, as labstack-entrypoint puts them.
case ":${PATH}:" in
    *:/opt/jupyter/bin:*) ;;
    *) PATH="/opt/jupyter/bin:${PATH}"; export PATH ;;
esac
case ":${PATH}:" in
    *":${HOME}/.local/bin:"*) ;;
    *) PATH="${PATH}:${HOME}/.local/bin"; export PATH ;;
esac
