"""Networks only: the paper's MLPs, their population form, SE networks and population Adam."""
import os

# MKL chooses matmul kernels by the memory alignment of each member's slice and by the batch
# count, so a member's floats would differ between a population of 8 and a population of one.
# Conditional numerical reproducibility makes them equal (no measurable cost here). MKL reads it
# at its first matmul, which comes after this import in every entry point, test and worker.
os.environ.setdefault("MKL_CBWR", "AUTO,STRICT")
