"""The web front end (Streamlit): a client of the prediction API over HTTP and of the MLflow server.

It never loads a model: what it shows is what production answers (`churnops ui` starts it).
"""
