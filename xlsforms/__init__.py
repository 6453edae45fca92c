"""Catalogue form specs → XLSForm (.xlsx), XForm (.xml, ODK-validated), media CSVs, versions and diffs.

Public entry points:

- `build.build_forms(catalogue, out_dir, previous=manifest)` writes a whole build (raising
  `errors.FormBuildError` with every problem); `build.build_form` builds one in memory;
  `build.form_version` gives a form's version (`version` documents the scheme).
- `rows.form_rows(catalogue, form)` gives the XLSForm rows (the dict pyxform converts).
- `checks.check_catalogue(catalogue)` lists traceability errors without building anything.
- `diff.diff_manifests(old, new, catalogue)` / `diff.render_diff(diff)` compare two builds.

This package never talks to a server: deploying the files it writes is `sync`'s job.
"""
