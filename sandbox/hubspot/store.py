"""PLACEHOLDER HubSpot store (owned by the HubSpot-side work)."""
class HubSpotStore:
    def __init__(self, world):
        self.world = world
    def state(self):
        return {"contacts": [], "owners": list(self.world.population.owners), "tasks": [], "notes": []}
    def record_conversion(self, email, form, ts_ms):
        raise KeyError(email)
