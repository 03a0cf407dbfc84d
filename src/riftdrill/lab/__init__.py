"""riftdrill.lab"""
