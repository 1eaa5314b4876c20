"""`python -m bench loading`: `measure` times the candle loaders against the row-by-row COPY
they replaced (`row_copy`), `report` writes bench/results/loading.*."""
