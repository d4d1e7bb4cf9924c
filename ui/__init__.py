"""The `musicsearch` CLI and the Gradio app: thin layers over the Python API."""
