"""numtorch placeholder"""
