"""Uploaded and generated files, stored in the database so that every app server sees them."""
