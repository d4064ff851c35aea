"""Layer aggregates: count, length and area of every published layer version per administrative unit."""
