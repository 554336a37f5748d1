"""Content generators: implementations of the Generator port."""
