raise RuntimeError("files starting with _ are not strategies and are never imported")
