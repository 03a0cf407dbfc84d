"""riftdrill.load"""
