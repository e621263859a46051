import os

from setuptools import find_packages, setup

here = os.path.abspath(os.path.dirname(__file__))
with open(os.path.join(here, "README.txt"), encoding="utf-8") as f:
    README = f.read()

requires = [
    "BTrees >= 5.0",
    "persistent >= 5.0",
    "transaction >= 4.0",
    "ZODB >= 6.0",
    "zodburi >= 2.6",
    "zope.interface >= 6.0",
    "pyramid >= 2.0",
    "pyramid_tm >= 2.5",
    "pyramid_retry >= 2.1",
    "pyramid_zodbconn >= 0.8.1",
    "pyramid_jinja2 >= 2.10",
    "plaster_pastedeploy >= 1.0",
    "waitress >= 3.0",
    "PyJWT[crypto] >= 2.8",
    "aioapns >= 4.0",
    "pyfcm >= 2.0",
    "google-auth >= 2.0",  # FCM service-account credentials
    "requests >= 2.28",    # the FCM client's HTTP session
    "prometheus_client >= 0.20",  # GET /metrics
    "python-json-logger >= 3.1",  # structured logs (docs/operations.txt)
]

# RelStorage finds psycopg2 whichever distribution installs it; the binary
# wheel needs no compiler or libpq headers ("RelStorage[postgresql]" would
# build psycopg2 from source).
postgresql_requires = [
    "RelStorage >= 4.0",
    "psycopg2-binary >= 2.9",
]

zeo_requires = [
    "ZEO >= 6.0",
]

testing_requires = [
    # schemathesis 4.32's pytest plugin sets Function._nodeid, which
    # pytest 9.2 no longer has ("'Function' object has no attribute
    # '_nodeid'"): below 9.2 until a schemathesis release follows.
    "pytest >= 8.0, < 9.2",
    "WebTest >= 3.0",
    "hypothesis >= 6.100",
    "trustme >= 1.1",
    "h2 >= 4.1",
    "aiohttp >= 3.9",
    "playwright >= 1.45",
    "openapi-core >= 0.19",   # real answers checked against openapi.json
    "schemathesis >= 4.0",
] + postgresql_requires + zeo_requires

bench_requires = [
    "zc.generationalset == 0.4.0",
] + postgresql_requires

setup(
    name="myproject",
    version="0.1.0",
    description="Generational-set data sync server for native and web app clients",
    long_description=README,
    classifiers=[
        "Programming Language :: Python :: 3",
        "Framework :: Pyramid",
        "Framework :: ZODB",
        "Topic :: Internet :: WWW/HTTP :: WSGI :: Application",
    ],
    python_requires=">= 3.10",
    packages=find_packages(exclude=["tests", "tests.*", "bench"]),
    include_package_data=True,
    package_data={"myproject": ["openapi.json"],
                  "myproject.admin": ["templates/*.jinja2", "static/*"],
                  "myproject.views": ["demo.html"]},
    zip_safe=False,
    install_requires=requires,
    extras_require={
        "testing": testing_requires,
        "postgresql": postgresql_requires,
        "zeo": zeo_requires,
        "bench": bench_requires,
    },
    entry_points={
        "paste.app_factory": [
            "main = myproject:main",
        ],
        "console_scripts": [
            "myproject-admin = myproject.scripts.admin:main",
        ],
    },
)
