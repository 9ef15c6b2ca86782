"""The training pipeline on Azure Machine Learning (SDK v2): validate -> train -> evaluate -> register and gate.

Each step is a command component running one `churnops` command on the repository's src/, so Azure ML runs the
same step functions as `churnops pipeline`; `churnops azureml export` writes the pipeline job offline and
`churnops azureml submit` sends it to the workspace. Needs the `azure` extra (azure-ai-ml, azure-identity).
"""
