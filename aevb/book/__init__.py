"""What the book needs beyond the package's behaviour: the chapters' knobs and their check (``knobs``), the
figure chapters' shared steps (``figures``), and the Sphinx extension of the build (``sphinx``)."""
