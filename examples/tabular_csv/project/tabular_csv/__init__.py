"""The worked example's project (examples/tabular_csv/README.md): a small MLP trained on a CSV file.

hetero-cluster names its two callables: `--model tabular_csv.models:build_model` and
`--dataset tabular_csv.data:build_dataset`.
"""
