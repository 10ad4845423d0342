"""MkDocs hook: benchmarks/RESULTS.md and the figures it shows join the site.

RESULTS.md stays where the benchmarks write it; pages link to it as
`../benchmarks/RESULTS.md`, which works when reading the repository, and
the hook points those links at the site's copy.
"""

import os

from mkdocs.structure.files import File

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCHMARKS = os.path.join(ROOT, "benchmarks")
REPOSITORY_LINK = "../benchmarks/RESULTS.md"


def on_files(files, config):
    def add(path):
        files.append(File(path, BENCHMARKS, config["site_dir"],
                          config["use_directory_urls"]))

    add("RESULTS.md")
    for folder, _, names in os.walk(os.path.join(BENCHMARKS, "results")):
        for name in names:
            if name.endswith(".png"):
                add(os.path.relpath(os.path.join(folder, name), BENCHMARKS))
    return files


def on_page_markdown(markdown, page, config, files):
    depth = page.file.src_uri.count("/")
    return markdown.replace(REPOSITORY_LINK, "../" * depth + "RESULTS.md")
