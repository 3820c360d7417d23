"""`make clean`: remove the containers labstack started and the images it tagged."""
from .engine import client
from .tags import Naming
from .containers import PURPOSE_LABEL, TEST_LABEL, remove_stray_containers


def main() -> None:
    containers = remove_stray_containers(PURPOSE_LABEL) + remove_stray_containers(TEST_LABEL)
    owner = Naming.from_environment().owner
    images = 0
    for image in client().images.list():
        for tag in image.tags:
            if f"{owner}/" in tag:
                client().images.remove(tag, noprune=False)
                images += 1
    print(f"removed {containers} container(s) and {images} tag(s)")


if __name__ == "__main__":
    main()
