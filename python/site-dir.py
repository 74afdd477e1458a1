# Print the directory under PREFIX where this interpreter looks for modules
# (a site directory on its sys.path), or nothing when it has none there.
# meson's own guess is wrong for Debian's python3 (it installs into
# PREFIX/lib/python3/dist-packages, which is on sys.path only for /usr).
import os
import site
import sys
import sysconfig

prefix = os.path.normpath(sys.argv[1])
cands = []
if hasattr(site, "getsitepackages"):
    cands += site.getsitepackages()
cands.append(sysconfig.get_path("platlib"))
for c in cands:
    rel = os.path.relpath(os.path.normpath(c), prefix)
    # PREFIX/lib/...: not ../ (elsewhere), not local/lib (the /usr/local
    # directory seen from prefix /usr).
    if rel.split(os.sep)[0] in ("lib", "lib64"):
        print(c)
        break
