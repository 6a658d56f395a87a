"""The three rucnet services. They never import each other, only ``shared``."""
