"""The experiment machinery: the paper's figures as grids of runs, trained into the committed results store.

- ``grids``: Fig. 2-5 as lists of ``TrainConfig`` and the runs' names (plain data);
- ``runs``: one run (or its seeds) trained into a directory on disk, resumable (``run``, ``run_seeds``);
- ``images``: the Fig. 4/5 images of a trained run;
- ``store``: the results store (``results/``): its index, the runs of a figure, the CI prefix check;
- ``executors``: where tasks run (a local process pool, or Ray);
- ``runner``: ``run_figure``, a figure's grid trained into the store (``python -m aevb figure``).
"""
