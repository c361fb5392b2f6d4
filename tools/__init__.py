# Plain-Python logic of the addon (no ORM): imported by the models, tested directly.
