import sys
from pathlib import Path

# Streamlit puts the entry script's folder on sys.path; AppTest of a page file does not
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "app"))
