"""inverse3d: 3D shape from a single image (representation mapping and GAN2Shape) in JAX."""
import pathlib

from setuptools import find_packages, setup

here = pathlib.Path(__file__).parent
requirements = [line.split("#")[0].strip()
                for line in (here / "requirements.txt").read_text().splitlines()]

setup(
    name="inverse3d",
    version="0.1.0",
    description="Recover 3D shape from a single 2D image: representation mapping and GAN2Shape",
    long_description=(here / "README.md").read_text(),
    long_description_content_type="text/markdown",
    packages=find_packages(include=["inverse3d", "inverse3d.*"]),
    python_requires=">=3.10",
    install_requires=[r for r in requirements if r and not r.startswith("pytest")],
    extras_require={"test": ["pytest"], "bench": ["torch", "scikit-learn"]},
)
