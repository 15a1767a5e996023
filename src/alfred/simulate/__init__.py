"""``alfred simulate``: replay a load profile through the real image router, queue, cache and prices on a
virtual clock, and compare routing policies by what players wait and what it costs."""
