"""The lab's pages, one file each, registered in ``app/main.py`` (why the folder is not ``pages/``: see
there): train, compare, inspect, lesson and classroom (url path ``class``). A page draws widgets and calls
``app`` and ``core`` modules; it computes nothing itself and imports no other page. Each runs its
``main()`` only when Streamlit executes it as a page, so tests can import it."""
