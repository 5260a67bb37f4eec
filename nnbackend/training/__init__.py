"""Training: one step as a function (``step``), its CUDA-graph replay (``graphed``),
host-resident data streamed to the device (``streaming``), and the loop around them
(``trainer``)."""
