"""The DORA workbench's charts and HTML report (no Dagster import).

- `data`: pure shaping, Gold frames in, small frames out (no plotting);
- `charts`: plotly figures, `plot_dora` for notebooks;
- `html`: the self-contained report page (plotly.js inlined once);
- `build`: reads Gold (and explanations) from the warehouse and writes the page (`devmetrics report`).

Importing this package imports nothing heavy: plotly is loaded by `charts` only.
"""
