# /etc/profile.d/labstack-path.sh: Debian's /etc/profile sets PATH anew in login shells (VS Code's
# terminal can start one); keep the image's Jupyter environment first, as the notebook kernel has it.
case ":${PATH}:" in
    *:/opt/jupyter/bin:*) ;;
    *) PATH="/opt/jupyter/bin:${PATH}"; export PATH ;;
esac
