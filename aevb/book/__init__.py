"""What the book needs beyond the package's behaviour: the chapters' knobs and their check (``knobs``), the
figure chapters' shared steps (``figures``), the Sphinx extension of the build (``sphinx``), which
chapters ``make book`` executes again (``cache``) and how (``execute``), and the book's PDF (``pdf``)."""
