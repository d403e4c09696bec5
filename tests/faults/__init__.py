"""Fault, bad-input and security tests (reliability): the cluster survives what happens to laptops."""
