#!/usr/bin/python3
"""The catalogue of bad inputs: each row runs mcmc-run or mcmc-diag on one
broken input (mesh, observation or data file, command line, output file) and
asserts the exit code and the message -- which names the file and the line
(or the dataset) and says what was expected.

    bad_inputs.py MCMC_RUN MCMC_DIAG [NAME...]

Each case runs in its own scratch directory holding the files the row lists
(a mesh derived from a small valid one, a CSV file, ...); configurations of
the bad schema kind live in tests/config/bad and are not repeated here.
Prints one line per failing case and "bad inputs: N checked, F failed".
"""
import concurrent.futures
import os
import re
import shutil
import subprocess
import sys
import tempfile

RUN, DIAG = sys.argv[1], sys.argv[2]
ONLY = set(sys.argv[3:])

# ---------------------------------------------------------------- inputs

# A small valid configuration; cases add or replace sections.
BASE = {
    "mesh": 'cells = 4',
    "prior": 'correlation_length = 0.5',
    "observations": 'grid = 2',
    "chain": 'iterations = 60\nburn_in = 10',
    "memory": 'warmup = 20\ncheck_every = 10',
    "output": 'path = "out.h5"\noverwrite = true\nflush_every = 10',
}


def config(**sections):
    """The base configuration with some sections replaced (value None drops one)."""
    s = dict(BASE)
    s.update(sections)
    return "".join(f"[{k.replace('__', '.')}]\n{v}\n" for k, v in s.items() if v is not None)


# A valid 2.2 mesh of the unit square: 4 triangles around the centre, the
# four sides as physical lines.
MESH22 = """$MeshFormat
2.2 0 8
$EndMeshFormat
$PhysicalNames
2
1 1 "wall"
2 2 "domain"
$EndPhysicalNames
$Nodes
5
1 0 0 0
2 1 0 0
3 1 1 0
4 0 1 0
5 0.5 0.5 0
$EndNodes
$Elements
8
1 1 2 1 1 1 2
2 1 2 1 1 2 3
3 1 2 1 1 3 4
4 1 2 1 1 4 1
5 2 2 2 1 1 2 5
6 2 2 2 1 2 3 5
7 2 2 2 1 3 4 5
8 2 2 2 1 4 1 5
$EndElements
"""


def mesh(old, new, text=MESH22):
    assert old in text, old
    return text.replace(old, new, 1)


MESHCFG = config(mesh='kind = "file"\nfile = "m.msh"\ndim = 2', observations='kind = "points"\npoints = [[0.3, 0.4]]')
OBSCFG = config(observations='kind = "file"\nfile = "obs.csv"')
DATACFG = config(observations='kind = "points"\npoints = [[0.25, 0.5], [0.75, 0.5]]', data='kind = "file"\nfile = "y.txt"')



def OBSH5CFG(dataset):
    """Observation points from obs.h5 (dataset "" = the default)."""
    ds = '\ndataset = "%s"' % dataset if dataset else ""
    return config(observations='kind = "file"\nfile = "obs.h5"' + ds)


def DATAH5CFG(dataset):
    """Two observation points, their values from y.h5."""
    ds = '\ndataset = "%s"' % dataset if dataset else ""
    return config(observations='kind = "points"\npoints = [[0.25, 0.5], [0.75, 0.5]]',
                  data='kind = "file"\nfile = "y.h5"' + ds)


def meancfg(keys):
    """The base configuration with a prior mean field from a file (cells = 4: 25 vertices)."""
    return config(prior='correlation_length = 0.5\n' + keys)


M0_TEXT = "".join("%g\n" % (0.1 * i) for i in range(25))


def run(*args):
    return [RUN, "--quiet", *args]


# ----------------------------------------------------------------- cases

# (name, files {name: text or bytes}, argv, exit code, regex the stderr must match)
CASES = [
    # --- configuration files (not the schema: tests/config/bad has those)
    ("config-missing", {}, run("none.toml"), 1, r"^none\.toml: cannot open configuration: No such file or directory$"),
    ("config-directory", {"d.toml/x": ""}, run("d.toml"), 1, r"^d\.toml: cannot read configuration: Is a directory$"),
    ("config-nul-byte", {"c.toml": b"[mesh]\ncells = 4\x00\n"}, run("c.toml"), 1, r"^c\.toml:2:10: expected end of value \(whitespace, ',', '\]', '\}', comment or newline\), got control character U\+0000$"),
    ("config-not-utf8", {"c.toml": b"title = \"caf\xe9\"\n"}, run("c.toml"), 1, r"^c\.toml:1:13: invalid UTF-8 byte 0xE9: a TOML document must be UTF-8$"),
    # --- meshes
    ("mesh-missing", {"c.toml": MESHCFG}, run("c.toml"), 1,
     r"^c\.toml: \[mesh\] file \"m\.msh\" cannot be opened: No such file or directory$"),
    ("mesh-not-gmsh", {"c.toml": MESHCFG, "m.msh": "solid cube\n  facet normal 0 0 1\n"}, run("c.toml"), 1,
     r"mesh file 'm\.msh' is not a Gmsh mesh: line 1 should be '\$MeshFormat'"),
    ("mesh-version-3", {"c.toml": MESHCFG, "m.msh": mesh("2.2 0 8", "3.0 0 8")}, run("c.toml"), 1,
     r"mesh file 'm\.msh': Gmsh format 3 is not supported \(expected 2\.2 or 4\.1\)"),
    ("mesh-binary", {"c.toml": MESHCFG, "m.msh": mesh("2.2 0 8", "2.2 1 8")}, run("c.toml"), 1,
     r"mesh file 'm\.msh': binary Gmsh files are not supported"),
    ("mesh-truncated-nodes", {"c.toml": MESHCFG, "m.msh": MESH22[:MESH22.index("3 1 1 0")]}, run("c.toml"), 1,
     r"^m\.msh:10: \$Nodes announces 5 nodes, but only 2 lines follow \(a truncated file\?\)$"),
    ("mesh-truncated-elements", {"c.toml": MESHCFG, "m.msh": MESH22[:MESH22.index("6 2 2 2")]}, run("c.toml"), 1,
     r"m\.msh:18: \$Elements announces 8 elements, but only 5 lines follow \(a truncated file\?\)$"),
    ("mesh-no-end-elements", {"c.toml": MESHCFG, "m.msh": MESH22.replace("$EndElements\n", "")}, run("c.toml"), 1,
     r"m\.msh:27: unexpected end of file: expected \$EndElements$"),
    ("mesh-node-not-number", {"c.toml": MESHCFG, "m.msh": mesh("3 1 1 0", "3 1 one 0")}, run("c.toml"), 1,
     r"m\.msh:13: expected a node coordinate \(a finite number\), got 'one'$"),
    ("mesh-node-nan", {"c.toml": MESHCFG, "m.msh": mesh("3 1 1 0", "3 1 nan 0")}, run("c.toml"), 1,
     r"m\.msh:13: expected a node coordinate \(a finite number\), got 'nan'$"),
    ("mesh-undeclared-node", {"c.toml": MESHCFG, "m.msh": mesh("7 2 2 2 1 3 4 5", "7 2 2 2 1 3 4 9")}, run("c.toml"),
     1, r"m\.msh:25: element 7 names node 9, which \$Nodes does not declare$"),
    ("mesh-duplicate-node", {"c.toml": MESHCFG, "m.msh": mesh("4 0 1 0", "3 0 1 0")}, run("c.toml"), 1,
     r"m\.msh:15: node tag 3 appears twice in \$Nodes$"),
    ("mesh-count-too-large", {"c.toml": MESHCFG, "m.msh": mesh("$Nodes\n5", "$Nodes\n500")}, run("c.toml"), 1,
     r"m\.msh:10: \$Nodes announces 500 nodes, but only 17 lines follow \(a truncated file\?\)$"),
    ("mesh-element-type", {"c.toml": MESHCFG, "m.msh": mesh("8 2 2 2 1 4 1 5", "8 9 2 2 1 4 1 5 1 2 3")},
     run("c.toml"), 1, r"m\.msh:26: element type 9 is not supported \(expected 15 point, 1 line, 2 triangle, 3 quadrilateral, 4 tetrahedron or 5 hexahedron\)$"),
    ("mesh-mixed-cells", {"c.toml": MESHCFG, "m.msh": mesh("8 2 2 2 1 4 1 5", "8 3 2 2 1 4 1 5 3")}, run("c.toml"),
     1, r"m\.msh:26: the mesh mixes simplex and quadrilateral cells; one kind is supported$"),
    ("mesh-boundary-not-face", {"c.toml": MESHCFG, "m.msh": mesh("1 1 2 1 1 1 2", "1 1 2 1 1 1 3")}, run("c.toml"),
     1, r"m\.msh:19: this line is not a face of any cell$"),
    ("mesh-name-too-long", {"c.toml": MESHCFG, "m.msh": mesh('"wall"', '"' + "w" * 80 + '"')}, run("c.toml"), 1,
     r"m\.msh:6: a physical name must have 1 to 63 characters, got 80$"),
    ("mesh-41-no-entities", {"c.toml": MESHCFG, "m.msh": mesh("2.2 0 8", "4.1 0 8")}, run("c.toml"), 1,
     r"m\.msh:9: expected '\$Entities' \(format 4\.1 needs it before \$Nodes\), got '\$Nodes'"),
    ("mesh-trailing-section", {"c.toml": MESHCFG, "m.msh": MESH22 + "$Periodic\n0\n$EndPeriodic\n"}, run("c.toml"),
     1, r"m\.msh:28: unexpected '\$Periodic' after \$EndElements \(sections such as \$Periodic or \$NodeData are not supported\)$"),
    ("mesh-inverted-cell", {"c.toml": MESHCFG, "m.msh": mesh("5 2 2 2 1 1 2 5", "5 2 2 2 1 2 1 5")}, run("c.toml"),
     1, r"^m\.msh: cell 0 is inverted \(Jacobian determinant -0\.125 at corner 0\); its vertices: \(1, 0\) \(0, 0\) \(0\.5, 0\.5\)$"),
    ("mesh-degenerate-cell", {"c.toml": MESHCFG, "m.msh": mesh("5 0.5 0.5 0", "5 0.5 0 0")}, run("c.toml"), 1,
     r"^m\.msh: cell 0 is degenerate \(Jacobian determinant 0 at corner 0\); its vertices: \(0, 0\) \(1, 0\) \(0\.5, 0\)$"),
    ("mesh-missing-label", {"c.toml": MESHCFG + '[[pde.dirichlet]]\nlabel = "inlet"\n', "m.msh": MESH22},
     run("c.toml"), 1,
     r"^c\.toml: \[\[pde\.dirichlet\]\] #1 label \"inlet\" is not a boundary label of the mesh m\.msh$"),
    ("mesh-wrong-dim", {"c.toml": MESHCFG.replace("dim = 2", "dim = 3").replace("[[0.3, 0.4]]", "[[0.3, 0.4, 0.1]]"),
                        "m.msh": MESH22}, run("c.toml"), 1, r"^c\.toml: \[mesh\] dim = 3, but the mesh m\.msh is 2D$"),
    ("mesh-box-too-large", {"c.toml": config(mesh="cells = 65536")}, run("c.toml"), 1,
     r"^c\.toml: \[mesh\] cells: a box mesh of 8589934592 simplices has 25769803776 cell-vertex entries, more than "
     r"this PETSc's index range \(2147483647\)$"),
    # --- observation files
    ("obs-missing", {"c.toml": OBSCFG}, run("c.toml"), 1,
     r"^obs\.csv: cannot open observation point coordinates: No such file or directory$"),
    ("obs-empty", {"c.toml": OBSCFG, "obs.csv": "# x, y\n\n"}, run("c.toml"), 1,
     r"^obs\.csv: no observation point coordinates found \(the file is empty\)$"),
    ("obs-three-columns", {"c.toml": OBSCFG, "obs.csv": "0.1, 0.2\n0.3, 0.4, 0.5\n"}, run("c.toml"), 1,
     r"^obs\.csv:2: expected 2 numbers per line \(observation point coordinates\), got 3$"),
    ("obs-one-column", {"c.toml": OBSCFG, "obs.csv": "0.1\n"}, run("c.toml"), 1,
     r"^obs\.csv:1: expected 2 numbers per line \(observation point coordinates\), got 1$"),
    ("obs-nan", {"c.toml": OBSCFG, "obs.csv": "0.1 0.2\n0.3 NaN\n"}, run("c.toml"), 1,
     r"^obs\.csv:2: expected a finite number, got 'NaN'$"),
    ("obs-text", {"c.toml": OBSCFG, "obs.csv": "0.1 0.2\n0.3 0.4x\n"}, run("c.toml"), 1,
     r"^obs\.csv:2: expected a finite number, got '0\.4x'$"),
    ("obs-outside", {"c.toml": OBSCFG, "obs.csv": "0.1 0.2\n1.5 0.5\n-0.1 0.5\n"}, run("c.toml"), 1,
     r"^c\.toml: 2 of the 3 observation points \(obs\.csv\) lie outside the mesh; the first is point 1 \(counting "
     r"from 0\) at \(1\.5, 0\.5\)$"),
    ("obs-points-outside", {"c.toml": config(observations='kind = "points"\npoints = [[0.5, 0.5], [2.0, 0.5]]')},
     run("c.toml"), 1, r"^c\.toml:7:23: \[observations\] points\[1\] lies outside the mesh: coordinate 0 is 2, the box spans \[0, 1\]$"),
    # --- data files
    ("data-missing", {"c.toml": DATACFG}, run("c.toml"), 1,
     r"^y\.txt: cannot open observed value: No such file or directory$"),
    ("data-empty", {"c.toml": DATACFG, "y.txt": ""}, run("c.toml"), 1,
     r"^y\.txt: no observed value found \(the file is empty\)$"),
    ("data-too-few", {"c.toml": DATACFG, "y.txt": "0.5\n"}, run("c.toml"), 1,
     r"^y\.txt: 1 observed values, but there are 2 observation points$"),
    ("data-two-columns", {"c.toml": DATACFG, "y.txt": "0.5 0.6\n0.7 0.8\n"}, run("c.toml"), 1,
     r"^y\.txt:1: expected 1 number per line \(observed value\), got 2$"),
    ("data-nan", {"c.toml": DATACFG, "y.txt": "0.5\nnan\n"}, run("c.toml"), 1,
     r"^y\.txt:2: expected a finite number, got 'nan'$"),
    ("data-inf", {"c.toml": DATACFG, "y.txt": "inf\n0.5\n"}, run("c.toml"), 1,
     r"^y\.txt:1: expected a finite number, got 'inf'$"),
    ("data-overflow", {"c.toml": DATACFG, "y.txt": "0.5\n1e999\n"}, run("c.toml"), 1,
     r"^y\.txt:2: expected a finite number, got '1e999'$"),
    ("data-binary", {"c.toml": DATACFG, "y.txt": b"0.5\n0.2\x00\x01\n"}, run("c.toml"), 1,
     r"^y\.txt:2: unexpected NUL byte \(a binary file\?\)$"),
    ("data-relative-zero", {"c.toml": DATACFG + '[noise]\nkind = "relative"\nsigma = 0.1\n', "y.txt": "0\n0\n"},
     run("c.toml"), 1, r"^y\.txt: relative noise needs a non-zero observed value \(all are 0\)$"),
    # --- observation and data files in HDF5 ([observations] / [data] file + dataset)
    ("obs-h5-no-dataset", {"c.toml": OBSH5CFG(""), "obs.h5": ("h5py", "foreign")}, run("c.toml"), 1,
     r"^obs\.h5: no dataset \"constant_data/sensor_coords\" in the file$"),
    ("obs-h5-three-columns", {"c.toml": OBSH5CFG("points"), "obs.h5": ("h5data", {"points": [[0.1, 0.2, 0.3]] * 3})},
     run("c.toml"), 1, r"^obs\.h5: dataset \"points\" has shape \[3, 3\], expected \[n, 2\] \(observation point "
     r"coordinates, 2 per row\)$"),
    ("obs-h5-one-dim", {"c.toml": OBSH5CFG("points"), "obs.h5": ("h5data", {"points": [0.1, 0.2, 0.3, 0.4]})},
     run("c.toml"), 1, r"^obs\.h5: dataset \"points\" has shape \[4\], expected \[n, 2\]"),
    ("obs-h5-nan", {"c.toml": OBSH5CFG("points"), "obs.h5": ("h5data", {"points": [[0.1, 0.2], [0.3, float("nan")]]})},
     run("c.toml"), 1, r"^obs\.h5: dataset \"points\": row 1 has nan, expected a finite number \(observation point "
     r"coordinates\)$"),
    ("obs-h5-outside", {"c.toml": OBSH5CFG("points"), "obs.h5": ("h5data", {"points": [[0.1, 0.2], [1.5, 0.5]]})},
     run("c.toml"), 1, r"^c\.toml: 1 of the 2 observation points \(obs\.h5: dataset \"points\"\) lie outside the "
     r"mesh; the first is point 1 \(counting from 0\) at \(1\.5, 0\.5\)$"),
    ("obs-h5-strings", {"c.toml": OBSH5CFG("posterior/param"), "obs.h5": ("copy", None)}, run("c.toml"), 1,
     r"^obs\.h5: dataset \"posterior/param\" does not hold numbers$"),
    ("obs-h5-group", {"c.toml": OBSH5CFG("posterior"), "obs.h5": ("copy", None)}, run("c.toml"), 1,
     r"^obs\.h5: \"posterior\" is not a dataset$"),
    ("obs-h5-truncated", {"c.toml": OBSH5CFG(""), "obs.h5": ("truncate", 4096)}, run("c.toml"), 1,
     r"^obs\.h5: cannot open the HDF5 file: it is truncated or damaged"),
    ("data-h5-no-dataset", {"c.toml": DATAH5CFG(""), "y.h5": ("h5py", "foreign")}, run("c.toml"), 1,
     r"^y\.h5: no dataset \"observed_data/y\" in the file$"),
    ("data-h5-too-few", {"c.toml": DATAH5CFG("y"), "y.h5": ("h5data", {"y": [0.5]})}, run("c.toml"), 1,
     r"^y\.h5: dataset \"y\": 1 observed values, but there are 2 observation points$"),
    ("data-h5-nan", {"c.toml": DATAH5CFG("y"), "y.h5": ("h5data", {"y": [0.5, float("nan")]})}, run("c.toml"), 1,
     r"^y\.h5: dataset \"y\": row 1 has nan, expected a finite number \(observed value\)$"),
    ("data-h5-inf", {"c.toml": DATAH5CFG("y"), "y.h5": ("h5data", {"y": [[float("inf")], [0.5]]})}, run("c.toml"), 1,
     r"^y\.h5: dataset \"y\": row 0 has inf, expected a finite number \(observed value\)$"),
    ("data-h5-two-columns", {"c.toml": DATAH5CFG("y"), "y.h5": ("h5data", {"y": [[0.5, 0.6], [0.7, 0.8]]})},
     run("c.toml"), 1, r"^y\.h5: dataset \"y\" has shape \[2, 2\], expected \[n\] or \[n, 1\] \(observed value\)$"),
    ("data-h5-empty", {"c.toml": DATAH5CFG("y"), "y.h5": ("h5data", {"y": []})}, run("c.toml"), 1,
     r"^y\.h5: dataset \"y\" is empty$"),
    ("data-h5-three-dims", {"c.toml": DATAH5CFG("y"), "y.h5": ("h5data", {"y": [[[0.5]], [[0.6]]]})}, run("c.toml"), 1,
     r"^y\.h5: dataset \"y\" has 3 dimensions, expected 1 or 2$"),
    ("data-h5-dataset-synthetic", {"c.toml": config(data='kind = "synthetic"\ndataset = "y"')}, run("c.toml"), 1,
     r"^c\.toml:\d+:\d+: \[data\] dataset is only used with kind = \"file\", but kind = \"synthetic\"$"),
    # --- prior mean field files ([prior] mean_file, mean_dataset)
    ("prior-mean-missing", {"c.toml": meancfg('mean_file = "m0.h5"')}, run("c.toml"), 1,
     r"^m0\.h5: cannot read: No such file or directory$"),
    ("prior-mean-no-dataset", {"c.toml": meancfg('mean_file = "f.h5"'), "f.h5": ("h5py", "foreign")}, run("c.toml"),
     1, r"^f\.h5: no dataset \"fields/mean\" in the file$"),
    ("prior-mean-named-missing", {"c.toml": meancfg('mean_file = "f.h5"\nmean_dataset = "m0"'),
                                  "f.h5": ("h5py", "foreign")}, run("c.toml"), 1,
     r"^f\.h5: no dataset \"m0\" in the file$"),
    ("prior-mean-wrong-size", {"c.toml": meancfg('mean_file = "f.h5"\nmean_dataset = "data"'),
                               "f.h5": ("h5py", "foreign")}, run("c.toml"), 1,
     r"^f\.h5: dataset \"data\" has shape \[10\], expected 25 values \(one per mesh vertex\) or \[chains, 25\]$"),
    ("prior-mean-nan", {"c.toml": meancfg('mean_file = "f.h5"\nmean_dataset = "m0"'), "f.h5": ("h5py", "mean_nan")},
     run("c.toml"), 1, r"^f\.h5: dataset \"m0\": value 8 \(vertex 7\) is nan, expected a finite number$"),
    ("prior-mean-strings", {"c.toml": meancfg('mean_file = "r.h5"\nmean_dataset = "posterior/param"'),
                            "r.h5": ("copy", None)}, run("c.toml"), 1,
     r"^r\.h5: dataset \"posterior/param\" does not hold numbers$"),
    ("prior-mean-text-two-columns", {"c.toml": meancfg('mean_file = "m0.txt"'), "m0.txt": "0.1\n0.2 0.3\n"},
     run("c.toml"), 1, r"^m0\.txt:2: expected 1 number per line \(value of the field, one per mesh vertex\), got 2$"),
    ("prior-mean-text-short", {"c.toml": meancfg('mean_file = "m0.txt"'), "m0.txt": "0.1\n0.2\n0.3\n"},
     run("c.toml"), 1, r"^m0\.txt: 3 values, the mesh has 25 vertices \(one value each\)$"),
    ("prior-mean-text-nan", {"c.toml": meancfg('mean_file = "m0.txt"'), "m0.txt": M0_TEXT.replace("0.7\n", "nan\n")},
     run("c.toml"), 1, r"^m0\.txt:8: expected a finite number, got 'nan'$"),
    ("prior-mean-other-mesh", {"c.toml": config(mesh="cells = 4\nupper = [2.0, 1.0]",
                                                prior='correlation_length = 0.5\nmean_file = "r.h5"'),
                               "r.h5": ("copy", None), "out_mesh.h5": ("copy_mesh", None)}, run("c.toml"), 1,
     r"^r\.h5: dataset \"fields/mean\" lies on the mesh out_mesh\.h5, which differs from this configuration's: "
     r"vertex \d+ is at \([-0-9.e]+, [-0-9.e]+\) there, \([-0-9.e]+, [-0-9.e]+\) here$"),
    ("prior-mean-and-constant", {"c.toml": meancfg('mean = 1.0\nmean_file = "m0.txt"'), "m0.txt": M0_TEXT},
     run("c.toml"), 1, r"^c\.toml:\d+:\d+: \[prior\] mean = 1 conflicts with mean_file: give a constant mean or a mean "
     r"field from a file$"),
    ("prior-mean-dataset-alone", {"c.toml": meancfg('mean_dataset = "m0"')}, run("c.toml"), 1,
     r"^c\.toml:\d+:\d+: \[prior\] mean_dataset names a dataset of mean_file, which is not given$"),
    # --- command line
    ("cli-unknown-option", {}, [RUN, "--iteration", "5", "c.toml"], 1,
     r"^mcmc-run: unknown option '--iteration' \(see mcmc-run --help\)$"),
    ("cli-iterations-no-value", {}, [RUN, "c.toml", "--iterations"], 1,
     r"^mcmc-run: --iterations needs a whole number in \[1, 1e9\], got ''$"),
    ("cli-iterations-zero", {}, [RUN, "--iterations", "0", "c.toml"], 1,
     r"^mcmc-run: --iterations needs a whole number in \[1, 1e9\], got '0'$"),
    ("cli-iterations-negative", {}, [RUN, "--iterations", "-1", "c.toml"], 1,
     r"^mcmc-run: --iterations needs a whole number in \[1, 1e9\], got '-1'$"),
    ("cli-iterations-text", {}, [RUN, "--iterations", "abc", "c.toml"], 1,
     r"^mcmc-run: --iterations needs a whole number in \[1, 1e9\], got 'abc'$"),
    ("cli-iterations-huge", {}, [RUN, "--iterations=1e10", "c.toml"], 1,
     r"^mcmc-run: --iterations needs a whole number in \[1, 1e9\], got '1e10'$"),
    ("cli-two-configs", {}, [RUN, "a.toml", "--quiet", "b.toml"], 1,
     r"^mcmc-run: more than one CONFIG given: 'a\.toml' and 'b\.toml'$"),
    ("cli-no-config", {}, [RUN, "--quiet"], 1, r"^mcmc-run: no CONFIG given"),
    ("cli-thin-exceeds", {"c.toml": config(chain="iterations = 60\nburn_in = 10\nthin = 5")},
     run("--iterations", "3", "c.toml"), 1,
     r"^mcmc-run: --iterations 3 leaves \d+ iterations after burn-in, fewer than \[chain\] thin = 5$"),
    ("cli-output-exists", {"c.toml": config(output='path = "out.h5"'), "out.h5": "x"}, run("c.toml"), 2,
     r"^mcmc-run: output file out\.h5 exists; refusing to overwrite it"),
    ("cli-output-dir-missing", {"c.toml": config(output='path = "no/such/dir/out.h5"')}, run("c.toml"), 2,
     r"output file no/such/dir/out\.h5: H5Fcreate on no/such/dir/out\.h5 failed: .*'No such file or directory'"),
    # --- --resume with a file that cannot be continued (a damaged file is a
    # runtime failure, exit 2, with one line naming the file and the fault)
    ("resume-missing", {"c.toml": config()}, run("--resume", "none.h5", "c.toml"), 1,
     r"^mcmc-run: --resume none\.h5: no such file$"),
    ("resume-not-hdf5", {"c.toml": config(), "r.h5": "not hdf5\n"}, run("--resume", "r.h5", "c.toml"),
     2, r"^mcmc-run: output file r\.h5: H5Fopen on r\.h5 failed: file signature not found \(in H5F__super_read\)$"),
    ("resume-truncated", {"c.toml": config(), "r.h5": ("truncate", 4096)},
     run("--resume", "r.h5", "c.toml"), 2,
     r"^mcmc-run: output file r\.h5: H5Fopen on r\.h5 failed: truncated file: eof = 4096, .*stored_eof = \d+ \(in H5F__super_read\)$"),
    ("resume-stored-config-damaged", {"r.h5": ("truncate", 4096)}, run("--resume", "r.h5"), 2,
     r"^mcmc-run: output file r\.h5: H5Fopen on r\.h5 failed: truncated file"),
    ("resume-iterations-fewer", {"c.toml": config(), "r.h5": ("copy", None)},
     run("--resume", "r.h5", "--iterations", "10", "c.toml"), 1,
     r"^mcmc-run: --iterations 10 is fewer than the \d+ iterations per chain the run in r\.h5 has done$"),
    ("resume-corrupted", {"c.toml": config(), "r.h5": ("corrupt", None)},
     run("--resume", "r.h5", "c.toml"), 2,
     r"^mcmc-run: output file r\.h5: H5Dget_chunk_info_by_coord on posterior/theta failed: incorrect metadata checksum"),
    ("resume-not-a-run", {"c.toml": config(), "r.h5": ("h5py", "foreign")},
     run("--resume", "r.h5", "c.toml"), 2,
     r"^mcmc-run: output file r\.h5: has no root attribute 'model_hash' \(not written by mcmc-run\?\)$"),
    ("resume-another-config", {"c.toml": config(prior="correlation_length = 0.3"), "r.h5": ("copy", None)},
     run("--resume", "r.h5", "c.toml"), 1,
     r"^mcmc-run: cannot resume r\.h5 with c\.toml: the model differs from the run's in \[prior\]; only "
     r"\[sampler\], \[chain\], \[output\], \[memory\] and \[solver\] settings, and how to reach a UM-Bridge "
     r"server \(\[model\] url, timeout, retries, retry_backoff\), may change$"),
    # --- mcmc-diag on files that are not a finished run
    ("diag-missing", {}, [DIAG, "none.h5"], 1, r"^mcmc-diag: none\.h5: cannot open: No such file or directory$"),
    ("diag-empty-file", {"e.h5": ""}, [DIAG, "e.h5"], 1, r"^mcmc-diag: e\.h5: not a readable HDF5 file$"),
    ("diag-truncated", {"t.h5": ("truncate", 4096)}, [DIAG, "t.h5"], 1, r"^mcmc-diag: t\.h5: cannot open the HDF5 file: it is truncated or damaged, or was left open by a killed "
     r"writer \(then run 'h5clear -s --increment=0 t\.h5' first\)$"),
    ("diag-corrupted", {"k.h5": ("corrupt", None)}, [DIAG, "k.h5"], 1, r"^mcmc-diag: k\.h5: cannot read draws 0\.\.50 of /sample_stats/lp$"),
    ("diag-not-a-run", {"n.h5": ("h5py", "foreign")}, [DIAG, "n.h5"], 1, r"^mcmc-diag: n\.h5: no group /posterior \(not an mcmc-run output file\?\)$"),
    ("diag-shape-mismatch", {"w.h5": ("h5py", "theta2d")}, [DIAG, "w.h5"], 1,
     r"^mcmc-diag: w\.h5: /posterior/theta has 3 chains, /sample_stats/lp has 1$"),
    ("diag-burn-too-long", {"g.h5": ("copy", None)}, [DIAG, "--burn", "100000", "g.h5"], 1,
     r"^mcmc-diag: g\.h5: the shortest chain has 50 draws; after --burn 100000 that leaves -99950, and the diagnostics need at least 4$"),
    ("diag-unknown-var", {"g.h5": ("copy", None)}, [DIAG, "--vars", "nosuch", "g.h5"], 1, r"^mcmc-diag: --vars: g\.h5 has no quantity named 'nosuch'; it has: lp, xi_0, xi_1, .*, m_mean, misfit$"),
]


# ------------------------------------------------------------------ runner

def good_output(scratch):
    """A finished run's output file, made once and copied into cases."""
    path = os.path.join(scratch, "good", "out.h5")
    if not os.path.exists(path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(os.path.join(scratch, "good", "c.toml"), "w") as f:
            f.write(config())
        subprocess.run([RUN, "--quiet", "c.toml"], cwd=os.path.dirname(path), check=True, stdout=subprocess.DEVNULL)
    return path


def h5py_file(path, kind):
    import h5py
    import numpy as np
    with h5py.File(path, "w") as f:
        if kind == "foreign":
            f["data"] = np.arange(10.0)
        elif kind == "mean_nan":
            m0 = np.linspace(0, 1, 25)
            m0[7] = np.nan
            f["m0"] = m0
        else:
            f["posterior/theta"] = np.zeros((3, 4))
            f["sample_stats/lp"] = np.zeros((1, 3))


def write_files(d, files, good):
    for name, content in files.items():
        p = os.path.join(d, name)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        if isinstance(content, tuple):
            kind, arg = content
            if kind == "h5py":
                h5py_file(p, arg)
                continue
            if kind == "h5data":  # {dataset: nested lists of float64}
                import h5py
                import numpy as np
                with h5py.File(p, "w") as f:
                    for k, v in arg.items():
                        f[k] = np.array(v, dtype=float)
                continue
            if kind == "copy_mesh":  # the good run's mesh file
                shutil.copy(good[:-3] + "_mesh.h5", p)
                continue
            data = open(good, "rb").read()
            if kind == "truncate":
                data = data[:arg]
            elif kind == "corrupt":
                # Overwrite the second half (object headers, B-trees, data) with a pattern.
                half = len(data) // 2
                data = data[:half] + bytes((i * 37) & 0xFF for i in range(len(data) - half))
            content = data
        with open(p, "wb" if isinstance(content, bytes) else "w") as f:
            f.write(content)


def check(case, scratch, good):
    name, files, argv, want_code, want_re = case
    d = os.path.join(scratch, name)
    os.makedirs(d)
    env = dict(os.environ)
    write_files(d, files, good)
    try:
        p = subprocess.run(argv, cwd=d, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    except subprocess.TimeoutExpired:
        return name, False, "hang (60 s)", want_code, "", want_re
    err = p.stderr.decode(errors="replace").strip()
    ok = p.returncode == want_code and re.search(want_re, err, re.M) is not None
    # Never a crash: no signal, no sanitizer report, no PETSc traceback for a user's mistake.
    if p.returncode < 0 or "Sanitizer" in err or "runtime error" in err:
        ok = False
    if os.environ.get("MC_ROBUST_SHOW"):
        print(f"{name}: exit {p.returncode}: {err}")
    return name, ok, p.returncode, want_code, err, want_re


def main():
    scratch = tempfile.mkdtemp(prefix="mc-robust-")
    cases = [c for c in CASES if not ONLY or c[0] in ONLY]
    try:
        good = good_output(scratch)
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            results = list(pool.map(lambda c: check(c, scratch, good), cases))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    failed = 0
    for name, ok, code, want_code, err, want_re in results:
        if not ok:
            failed += 1
            print(f"FAIL {name}: exit {code} (want {want_code})\n  want: {want_re}\n  got:  {err[:600]}")
    names = [c[0] for c in CASES]
    assert len(names) == len(set(names)), "duplicate case names"
    print(f"bad inputs: {len(results)} checked, {failed} failed")
    return 1 if failed or (not ONLY and len(results) < 40) else 0


if __name__ == "__main__":
    sys.exit(main())
