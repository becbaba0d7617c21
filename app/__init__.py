"""The Streamlit lab: ``streamlit run app/main.py``; pages import siblings as ``app.<module>``."""
