"""Figure builders of the lab: pure functions from numbers to plotly figures or HTML, no streamlit, no state.

``style`` holds the look every figure shares; ``schedule`` draws one set of exponents, ``training`` snapshot
histories, ``orders`` order statistics, ``replay`` decoding replays, ``lesson`` the Lesson's pictures and
``sudoku`` Sudoku grids. Notation follows docs/design.md.
"""
