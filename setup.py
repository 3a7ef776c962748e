from setuptools import find_packages, setup

setup(
    name="otter2",
    version="0.1.0",
    description="An autoscaler for OpenStack-style clouds, API-compatible with "
                "Rackspace Auto Scale v1.0",
    python_requires=">=3.11",
    packages=find_packages(include=["otter2", "otter2.*"]) + ["twisted.plugins"],
    # Every package lies where its name says, under the project root: an editable
    # install puts the root on sys.path, where twistd finds twisted/plugins too.
    package_dir={"": "."},
    install_requires=[
        "twisted>=24.7,<27",
        "treq>=24.9,<27",
        "klein>=24.8,<25",
        "werkzeug>=3.0,<4",
        "effect>=1.1,<2",
        "txeffect>=1.0,<2",
        "attrs>=23.1,<27",
        "pyrsistent>=0.20,<0.21",
        "croniter>=2.0,<8",
        "jsonschema>=4.20,<5",
        "prometheus_client>=0.20,<1",
        "kazoo>=2.9,<3",
        "cassandra-driver>=3.30,<3.31",
    ],
    extras_require={
        "test": ["hypothesis>=6.100,<7", "mypy>=1.10", "mypy-zope>=1.0", "ruff>=0.5"],
    },
)
